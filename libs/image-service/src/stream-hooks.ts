/**
 * The same messages, with hooks at the end, each called at most once and only one of them:
 * `end` when they run out, `error` when they fail (it returns what to throw instead), `cancel`
 * when the consumer stops early (`return()`, as connect-node does when a write to the client
 * fails). A plain iterator rather than an async generator: each interceptor on a busy stream then
 * costs one await per message, not a generator's hops.
 */
export function withStreamHooks<T>(
  messages: AsyncIterable<T>,
  hooks: {
    readonly end?: () => void;
    readonly error?: (e: unknown) => unknown;
    readonly cancel?: () => void;
  },
): AsyncIterable<T> {
  return {
    [Symbol.asyncIterator]() {
      const it = messages[Symbol.asyncIterator]();
      let over = false;
      return {
        async next() {
          try {
            const result = await it.next();
            if (result.done === true && !over) {
              over = true;
              hooks.end?.();
            }
            return result;
          } catch (e) {
            if (over || hooks.error === undefined) throw e;
            over = true;
            throw hooks.error(e);
          }
        },
        async return(value?: unknown) {
          if (!over) {
            over = true;
            hooks.cancel?.();
          }
          return it.return === undefined
            ? { done: true as const, value: value as T }
            : it.return(value);
        },
      };
    },
  };
}
