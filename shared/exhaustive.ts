/** Ends an exhaustive `switch`: fails to compile when a case of the union is not handled. */
export function assertNever(value: never, what = 'value'): never {
  throw new Error(`Unhandled ${what}: ${JSON.stringify(value)}`);
}
