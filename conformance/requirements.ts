/**
 * Requirement statements quoted from `spec/protocol.md`, so that a failure shows the text it
 * breaks, the way h2spec quotes RFC 7540.
 *
 * @module
 */

const SPEC_URL = new URL("../spec/protocol.md", import.meta.url);

/**
 * Extracts every bracketed requirement (`… MUST … [ROUTE-3]`) from the spec's Markdown: the
 * paragraph or list item that ends with the id, without the id and Markdown emphasis.
 */
export function parseRequirements(markdown: string): Map<string, string> {
  const out = new Map<string, string>();
  const blocks = markdown.split(/\n\s*\n|\n(?=\s*(?:[-*]|\d+\.)\s)/);
  for (const block of blocks) {
    const ids = [...block.matchAll(/\[([A-Z]+-\d+)\]/g)].map((m) => m[1]);
    if (ids.length === 0) continue;
    const text = block
      .replace(/\[[A-Z]+-\d+\]/g, "")
      .replace(/^\s*(?:[-*]|\d+\.)\s+/, "")
      .replace(/\*\*|__/g, "")
      .replace(/\s+/g, " ")
      .trim();
    for (const id of ids) if (!out.has(id)) out.set(id, text);
  }
  return out;
}

/**
 * Reads the spec next to this module; an empty map when it cannot be read (for example when
 * the runner is imported from a registry), in which case reports show the ids alone.
 */
export async function loadRequirements(): Promise<Map<string, string>> {
  try {
    const text = SPEC_URL.protocol === "file:"
      ? await Deno.readTextFile(SPEC_URL)
      : await (await fetch(SPEC_URL)).text();
    return parseRequirements(text);
  } catch {
    return new Map();
  }
}

/** The level of a requirement statement: the RFC 2119 key word it uses. */
export function levelOf(statement: string): "MUST" | "SHOULD" | "MAY" {
  if (/\b(MUST|SHALL|REQUIRED)\b/.test(statement)) return "MUST";
  if (/\b(SHOULD|RECOMMENDED)\b/.test(statement)) return "SHOULD";
  return "MAY";
}
