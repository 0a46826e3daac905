import type { Histogram } from 'prom-client';
import type { RelayStore } from '../storage/RelayStore';

/**
 * The store as the relay's services see it: every method call that returns a promise is timed into
 * `seconds` (labelled by method) when it settles, whether it resolved or failed. Cheap: one wrapper per method and
 * one labelled histogram child per method name, made on the first call; each call then costs two readings of
 * the monotonic clock and one observation. Anything that is not a method is passed through as it is.
 */
export function timedStore<S extends RelayStore>(store: S, seconds: Histogram<'method'>): S {
  // Keyed by the function, not its name: a method replaced on the store (as tests do) gets its own wrapper.
  const wrappers = new WeakMap<object, unknown>();
  const observers = new Map<string, Histogram.Internal<'method'>>();
  return new Proxy(store, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof value !== 'function' || typeof property !== 'string' || property === 'constructor') return value;
      let wrapper = wrappers.get(value);
      if (wrapper === undefined) {
        const method = value as (...args: unknown[]) => unknown;
        const observe = observers.get(property) ?? seconds.labels(property);
        observers.set(property, observe);
        wrapper = function timed(...args: unknown[]): unknown {
          const started = performance.now();
          const result = method.apply(target, args);
          if (!(result instanceof Promise)) return result;
          const done = () => observe.observe((performance.now() - started) / 1000);
          result.then(done, done);
          return result;
        };
        wrappers.set(value, wrapper);
      }
      return wrapper;
    },
  });
}
