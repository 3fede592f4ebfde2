/** Compute's JSON error body: `{"error":{"code","message","errors":[{"domain","reason","message"}]}}`. */
export interface ComputeErrorBody {
  readonly error: {
    readonly code: number;
    readonly message: string;
    readonly errors: readonly {
      readonly domain: string;
      readonly reason: string;
      readonly message: string;
      readonly location?: string;
      readonly locationType?: string;
    }[];
    readonly status?: string;
  };
}

/** An error the emulator answers with, carrying Compute's status, reason and message. */
export class ComputeFault extends Error {
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
    readonly extra: { readonly location?: string; readonly locationType?: string } = {},
  ) {
    super(message);
    this.name = "ComputeFault";
  }

  toBody(): ComputeErrorBody {
    return {
      error: {
        code: this.status,
        message: this.message,
        errors: [{ domain: "global", reason: this.reason, message: this.message, ...this.extra }],
        ...(GRPC_STATUS[this.status] === undefined ? {} : { status: GRPC_STATUS[this.status] }),
      },
    };
  }
}

const GRPC_STATUS: Partial<Record<number, string>> = {
  400: "INVALID_ARGUMENT",
  401: "UNAUTHENTICATED",
  403: "PERMISSION_DENIED",
  404: "NOT_FOUND",
  409: "ALREADY_EXISTS",
  429: "RESOURCE_EXHAUSTED",
  500: "INTERNAL",
  503: "UNAVAILABLE",
};

/** Compute's usual reason and message for an injected status. */
export function defaultFault(status: number, reason?: string, message?: string): ComputeFault {
  const known: Partial<Record<number, readonly [string, string]>> = {
    429: ["rateLimitExceeded", "Rate Limit Exceeded"],
    403: [
      "rateLimitExceeded",
      "Quota exceeded for quota group 'ReadGroup' and limit 'Read requests per 100 seconds' of service 'compute.googleapis.com' for consumer 'project_number:000000000000'.",
    ],
    500: ["backendError", "Internal error. Please try again or contact Google Support."],
    502: ["backendError", "Bad Gateway"],
    503: ["backendError", "The service is currently unavailable."],
    504: ["backendError", "Deadline exceeded"],
    401: ["authError", "Invalid Credentials"],
  };
  const [r, m] = known[status] ?? ["error", `Injected error ${status}`];
  return new ComputeFault(status, reason ?? r, message ?? m);
}

export const notFound = (resource: string) =>
  new ComputeFault(404, "notFound", `The resource '${resource}' was not found`);
export const invalid = (message: string) => new ComputeFault(400, "invalid", message);
