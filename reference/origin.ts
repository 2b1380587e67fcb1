/**
 * Where a relay is and who may talk to it: "is this host loopback?", the host part of the
 * relay's own URLs, the Origin policy checked before every WebSocket upgrade (browsers send
 * `Origin`; by default only the relay's own pages may connect) and the Host policy of its HTTP
 * routes (no answers to names it does not serve: DNS rebinding).
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
  /** Origins allowed besides the relay's own; `"*"` among them allows any. */
  origins?: readonly string[];
  /** Whether an upgrade without an Origin header (a non-browser client) is allowed. */
  allowNoOrigin: boolean;
  /** The address the relay is bound to. */
  hostname: string;
  /** The port it listens on. */
  port: number;
}

/**
 * The policy of a relay listening on `hostname:port`. Its own origins — its http origins on
 * loopback (`127.0.0.1`, `localhost`, `[::1]`) and on the bound address — are always allowed;
 * `origins` adds more.
 */
export function originPolicy(options: OriginPolicyOptions): OriginPolicy {
  const { origins = [], allowNoOrigin, hostname, port } = options;
  const own = ["127.0.0.1", "localhost", "[::1]", hostForUrl(hostname)]
    .map((host) => `http://${host}:${port}`);
  const allowed = origins.includes("*") ? null : new Set([...own, ...origins]);
  return {
    allows: (origin) => origin === null ? allowNoOrigin : allowed === null || allowed.has(origin),
  };
}

/** Decides by its `Host` header whether the relay answers an HTTP request. */
export interface HostPolicy {
  /** Whether a request with this `Host` header (`null`: none) is answered. */
  allows(host: string | null): boolean;
}

/** How {@linkcode hostPolicy} builds a policy. */
export interface HostPolicyOptions {
  /** Host names served besides loopback and IP addresses; `"*"` among them serves any. */
  names?: readonly string[];
  /** Origins allowed to open a WebSocket: their hosts are served too. */
  origins?: readonly string[];
  /** The address the relay is bound to (a name is served). */
  hostname: string;
}

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

/** The host name of a `Host` header value, lower-case, without port or trailing dot. */
export function hostName(host: string): string {
  const name = host.startsWith("[") ? host.slice(0, host.indexOf("]") + 1) : host.split(":")[0];
  return name.toLowerCase().replace(/\.$/, "");
}

/**
 * The names a relay answers on its HTTP routes, against DNS rebinding: a page of `evil.example`
 * whose name the attacker re-points at the relay's address reaches it with `Host: evil.example`.
 * Served: loopback names, any IP address (an attacker's page cannot have an IP address as its
 * own origin and the relay's at once), the bound name, the hosts of the allowed origins and
 * `names`. A request without `Host` (HTTP/1.0, not a browser) is answered.
 *
 * ```ts
 * import { hostPolicy } from "./origin.ts";
 * const hosts = hostPolicy({ hostname: "0.0.0.0", names: ["chat.example.com"] });
 * hosts.allows("chat.example.com:8080"); // true
 * hosts.allows("192.168.1.5:8080"); // true
 * hosts.allows("evil.example:8080"); // false
 * ```
 */
export function hostPolicy(options: HostPolicyOptions): HostPolicy {
  const { names = [], origins = [], hostname } = options;
  if (names.includes("*")) return { allows: () => true };
  const served = new Set(["localhost", hostName(hostForUrl(hostname))]);
  for (const name of names) served.add(hostName(name));
  for (const origin of origins) {
    if (URL.canParse(origin)) served.add(hostName(new URL(origin).host));
  }
  return {
    allows(host) {
      if (host === null) return true;
      const name = hostName(host);
      return served.has(name) || IPV4.test(name) || name.startsWith("[");
    },
  };
}
