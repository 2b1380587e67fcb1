/**
 * Where a relay is and who may talk to it: "is this host loopback?", the host part of the
 * relay's own URLs, and the Origin policy checked before every WebSocket upgrade (browsers send
 * `Origin`; by default only the relay's own pages may connect).
 *
 * ```ts
 * import { originPolicy } from "./origin.ts";
 * const policy = originPolicy({ allowNoOrigin: true, hostname: "127.0.0.1", port: 8080 });
 * policy.allows("http://localhost:8080"); // true: the relay's own page
 * policy.allows("https://evil.example"); // false
 * policy.allows(null); // true: a non-browser client
 * ```
 *
 * @module
 */

/** Whether `host` (a name or an address) is this machine's loopback interface. */
export function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || host.startsWith("127.");
}

/** The host of URLs that reach a relay bound to `hostname` (a wildcard address: loopback). */
export function hostForUrl(hostname: string): string {
  if (hostname === "0.0.0.0") return "127.0.0.1";
  if (hostname === "::") return "[::1]";
  return hostname.includes(":") ? `[${hostname}]` : hostname;
}

/** Decides by its `Origin` header whether an upgrade may proceed. */
export interface OriginPolicy {
  /** Whether an upgrade with this Origin (`null`: no header) is allowed. */
  allows(origin: string | null): boolean;
}

/** How {@linkcode originPolicy} builds a policy. */
export interface OriginPolicyOptions {
  /** Exact allowed origins; `["*"]` allows any; absent: the relay's own http origins. */
  origins?: readonly string[];
  /** Whether an upgrade without an Origin header (a non-browser client) is allowed. */
  allowNoOrigin: boolean;
  /** The address the relay is bound to. */
  hostname: string;
  /** The port it listens on. */
  port: number;
}

/**
 * The policy of a relay listening on `hostname:port`. Its own origins are its http origins on
 * loopback (`127.0.0.1`, `localhost`, `[::1]`) and on the bound address.
 */
export function originPolicy(options: OriginPolicyOptions): OriginPolicy {
  const { origins, allowNoOrigin, hostname, port } = options;
  const allowed = origins?.includes("*") ? null : new Set(
    origins ??
      ["127.0.0.1", "localhost", "[::1]", hostForUrl(hostname)].map((host) =>
        `http://${host}:${port}`
      ),
  );
  return {
    allows: (origin) => origin === null ? allowNoOrigin : allowed === null || allowed.has(origin),
  };
}
