/** The one canonical JSON of exported records: the exact bytes of each Merkle leaf. */
import { item } from './merkle';

const quoted = new Map<string, string>();
const quote = (key: string) => {
  let q = quoted.get(key);
  if (q === undefined) {
    q = JSON.stringify(key);
    if (quoted.size < 10_000) quoted.set(key, q);
  }
  return q;
};

/** JSON with object keys sorted at every level and no whitespace: one byte string per record. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) out += (i > 0 ? ',' : '') + canonicalJson(value[i]);
    return `${out}]`;
  }
  const keys = Object.keys(value).sort();
  let out = '{';
  for (let i = 0; i < keys.length; i++) {
    const key = item(keys, i);
    const v = (value as Record<string, unknown>)[key];
    if (v === undefined) continue;
    out += (out.length > 1 ? ',' : '') + quote(key) + ':' + canonicalJson(v);
  }
  return `${out}}`;
}

