import { describe, expect, it } from 'vitest';
import { ANNA, BEN, SAMPLE_DIRECTORY } from './auditSample';
import { AuditDescriber, type DescribedRecord } from './describe';
import { AuditNames } from './people';

const record = (details: Record<string, unknown>): DescribedRecord => ({ seq: 1, at: Date.UTC(2026, 11, 3, 8), type: 'presence.changed', actor: `${BEN}.1`, subject: BEN, details });
const say = (r: DescribedRecord) => new AuditDescriber(new AuditNames(SAMPLE_DIRECTORY)).sentence(r);

describe('status changes (issue 19), as the report says them', () => {
  it('names the status, the end time and who covers, and only that a note was set', () => {
    const offShift = say(record({ status: 'offShift', until: Date.UTC(2026, 11, 3, 18), forwardTo: `user:${ANNA}`, note: true }));
    expect(offShift).toMatch(/^Ben Okafor \(bokafor, nurse\) set their status to Off shift until 2026-12-03 \S+ \S+ at Ward 4 nurses' station, forwarding messages to Dr\. Anna Smith \(asmith, clinician\), with a note \(its words are not kept in the log\)\.$/);
    expect(say(record({ status: 'available', until: null, forwardTo: null, note: false }))).toBe("Ben Okafor (bokafor, nurse) set their status to Available at Ward 4 nurses' station.");
  });
});
