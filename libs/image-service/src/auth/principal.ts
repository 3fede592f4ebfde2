import { createContextKey } from "@connectrpc/connect";

/** Who is calling: a token's principal or an ID token's email. */
export interface Principal {
  readonly name: string;
}

/** Where the request gate leaves the caller for the RPC implementations. */
export const PRINCIPAL = createContextKey<Principal | undefined>(undefined, {
  description: "the authenticated caller",
});
