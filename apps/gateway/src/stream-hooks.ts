/**
 * The same messages, with hooks at the end: `end` once when they run out, `error` when they fail
 * (it returns what to throw instead). A plain iterator rather than an async generator: each
 * interceptor on a busy stream then costs one await per message, not a generator's hops.
 */
export function withStreamHooks<T>(
  messages: AsyncIterable<T>,
  hooks: { readonly end?: () => void; readonly error?: (e: unknown) => unknown },
): AsyncIterable<T> {
  return {
    [Symbol.asyncIterator]() {
      const it = messages[Symbol.asyncIterator]();
      return {
        async next() {
          try {
            const result = await it.next();
            if (result.done === true) hooks.end?.();
            return result;
          } catch (e) {
            throw hooks.error === undefined ? e : hooks.error(e);
          }
        },
        async return(value?: unknown) {
          return it.return === undefined
            ? { done: true as const, value: value as T }
            : it.return(value);
        },
      };
    },
  };
}
