import { describe, expect, it } from 'vitest';
import { RelayFailure } from '../RelayFailure';
import { ConnectAdmission, type Admitted } from './ConnectAdmission';

const LIMITS = { maxConnecting: 2, maxEventLoopLagMs: 200, connectsPerSecond: 4, maxRetryAfterSeconds: 3, listenBacklog: 4096 };

function admission(limits = LIMITS) {
  const state = { now: 1_000_000, lag: 0 };
  const lines: string[] = [];
  const gate = new ConnectAdmission(limits, () => state.now, () => state.lag, (line) => lines.push(line), 10_000);
  return { gate, state, lines };
}

function admitted(outcome: Admitted | RelayFailure): Admitted {
  if (outcome instanceof RelayFailure) throw new Error(`shed: ${outcome.message}`);
  return outcome;
}

function shed(outcome: Admitted | RelayFailure): RelayFailure {
  if (!(outcome instanceof RelayFailure)) throw new Error('admitted');
  return outcome;
}

describe('shedding connects when the relay is overloaded', () => {
  it('refuses a connect past the authentications under way with 503 RELAY_BUSY and Retry-After, and takes it once one ends', () => {
    const { gate } = admission();
    const first = admitted(gate.enter());
    admitted(gate.enter());
    const refused = shed(gate.enter());
    expect(refused.code).toBe('RELAY_BUSY');
    expect(refused.status).toBe(503);
    expect(refused.extra.retryAfterSeconds).toBeGreaterThanOrEqual(1);
    expect(refused.extra.retryAfterMs).toBe(refused.extra.retryAfterSeconds! * 1000);
    first.leave();
    first.leave(); // twice frees one place, not two
    admitted(gate.enter());
    expect(shed(gate.enter()).code).toBe('RELAY_BUSY');
  });

  it('refuses while the event loop runs later than allowed, and admits again when it catches up', () => {
    const { gate, state } = admission();
    state.lag = 201;
    expect(shed(gate.enter()).message).toContain('201 ms behind');
    state.lag = 150;
    admitted(gate.enter()).leave();
  });

  it('spreads the shed connects over time instead of sending them back in step', () => {
    const { gate, state } = admission();
    state.lag = 1000;
    // 4 a second: the first four come back in 1 s, the next four in 2 s, then at most 3 s.
    const waits = Array.from({ length: 14 }, () => shed(gate.enter()).extra.retryAfterSeconds);
    expect(waits).toEqual([1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3]);
    // Time passes: the return times already handed out stay taken, later ones are counted from now.
    state.now += 10_000;
    expect(shed(gate.enter()).extra.retryAfterSeconds).toBe(1);
  });

  it('logs an episode at its start, its 10th and 100th shed connect and its totals, never each one', () => {
    const { gate, state, lines } = admission();
    state.lag = 500;
    for (let i = 0; i < 150; i++) gate.enter();
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/\(started\): 1 shed/);
    expect(lines[2]).toMatch(/\(ongoing\): 100 shed/);
    gate.endQuiet();
    expect(lines).toHaveLength(3); // not quiet yet
    state.now += 10_000;
    gate.endQuiet();
    expect(lines[3]).toMatch(/\(ended\): 150 shed over 0\.0 s \(0 with too many authenticating, at most 0; 150 with the event loop late, at most 500 ms\); Retry-After up to 3 s/);
    state.lag = 0;
    admitted(gate.enter());
    gate.endAll();
    expect(lines).toHaveLength(4);
  });
});
