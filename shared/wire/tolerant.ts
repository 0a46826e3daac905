import { z } from 'zod';

/*
 * Reading what a newer party wrote (the upgrade order, docs/deployment.md: the relay first, workstations over the
 * weeks after). The wire schemas are written strict, and whoever *receives a request* keeps them so; whoever reads
 * an *answer, a frame or a colleague's payload* reads it through `tolerant(schema)`:
 *
 * - every object drops the fields it does not know (stripped, never passed on), at every depth;
 * - every field it does know is checked exactly as before: a wrong type, a missing required field, an unknown enum
 *   value or discriminator still fails, and `describeWireIssue` names the field (never its value).
 *
 * Why the relay stays strict on requests: the relay is upgraded first, so it is the newest party a workstation
 * talks to; a request field it does not know is a typo, a client from a future the relay has not reached, or a probe.
 * Ignoring it would let a sender believe something took effect (an `urgent` flag counted in the audit, a device's
 * audit key) that the relay silently dropped, so it answers BAD_REQUEST instead. A workstation reading an answer is
 * the other way round: an older workstation meeting a newer relay's extra field (a session's `username`, a
 * presence's `forwarding`) has nothing it could do with it, and refusing the whole answer would lock it out.
 *
 * Why an unknown field cannot change how a known one is read: the fields are stripped, not merged, so nothing but the
 * known fields reaches the code; the only unions over objects are discriminated by a literal field (a known one),
 * so stripping cannot make one branch match where another was meant. Object-level refinements (`.refine`) are kept.
 */

type Def = Readonly<Record<string, unknown>> & { readonly type: string };

const made = new WeakMap<z.ZodType, z.ZodType>();

function defOf(schema: z.ZodType): Def {
  return schema._zod.def as unknown as Def;
}

/**
 * The schema with some of its def's fields changed. The def is copied with its property descriptors, not spread: a
 * spread would call its getters once (zod's `.default([])` keeps `defaultValue` as a getter that makes a fresh value
 * on each parse), and every later parse would hand out that one shared value.
 */
function rebuild(schema: z.ZodType, changes: Record<string, unknown>): z.ZodType {
  const def = Object.defineProperties({}, Object.getOwnPropertyDescriptors(schema._zod.def)) as Record<string, unknown>;
  for (const [key, value] of Object.entries(changes)) Object.defineProperty(def, key, { value, enumerable: true, writable: true, configurable: true });
  return schema.clone(def as unknown as typeof schema._zod.def);
}

function loosened(schema: z.ZodType): z.ZodType {
  const def = defOf(schema);
  const inner = (key: string): z.ZodType => tolerant(def[key] as z.ZodType);
  switch (def.type) {
    case 'object': {
      const shape = Object.fromEntries(Object.entries(def.shape as Record<string, z.ZodType>).map(([k, v]) => [k, tolerant(v)]));
      const catchall = def.catchall as z.ZodType | undefined;
      // A strict object's catchall is `never` (refuse unknown keys): none means strip. A loose one's stays.
      return rebuild(schema, { shape, catchall: catchall?._zod.def.type === 'never' ? undefined : catchall });
    }
    case 'array':
      return rebuild(schema, { element: inner('element') });
    case 'union':
      return rebuild(schema, { options: (def.options as z.ZodType[]).map((o) => tolerant(o)) });
    case 'intersection':
      return rebuild(schema, { left: inner('left'), right: inner('right') });
    case 'record':
      return rebuild(schema, { valueType: inner('valueType') });
    case 'tuple':
      return rebuild(schema, { items: (def.items as z.ZodType[]).map((i) => tolerant(i)), rest: def.rest === null ? null : inner('rest') });
    case 'pipe':
      return rebuild(schema, { in: inner('in'), out: inner('out') });
    case 'lazy': {
      const getter = def.getter as () => z.ZodType;
      return rebuild(schema, { getter: () => tolerant(getter()) });
    }
    case 'optional':
    case 'nullable':
    case 'nonoptional':
    case 'default':
    case 'prefault':
    case 'catch':
    case 'readonly':
      return rebuild(schema, { innerType: inner('innerType') });
    default:
      return schema;
  }
}

/**
 * The same schema, reading answers from a newer party: unknown fields dropped at every depth, known ones checked as
 * strictly as ever. Same inferred type (stripping only removes what the type never had).
 */
export function tolerant<T extends z.ZodType>(schema: T): T {
  const known = made.get(schema);
  if (known) return known as T;
  const result = loosened(schema);
  made.set(schema, result);
  return result as T;
}

/** The first thing wrong with an answer, by field path and kind, without its value (which may be a secret or a name). */
export function describeWireIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  if (!issue) return 'invalid';
  const path = issue.path.length > 0 ? issue.path.map(String).join('.') : '(root)';
  return `${path}: ${issue.code}${issue.code === 'invalid_type' ? ` (expected ${issue.expected})` : ''}`;
}
