import { describe, expect, it } from 'vitest';
import { ANNA, BEN, CHIDI, SAMPLE_DIRECTORY } from './auditSample';
import { AuditDescriber, type DescribedRecord } from './describe';
import { AuditNames } from './people';
import { PeopleTallies } from './reportPeople';

const names = new AuditNames(SAMPLE_DIRECTORY);
const describer = new AuditDescriber(names);
const AT = Date.UTC(2026, 11, 2, 10, 5);
const MESSAGE = 'aa11bb22-1e2f-4a4b-8c5d-6e7f8a9b0c1d';
const LADDER = 'ee11bb22-1e2f-4a4b-8c5d-6e7f8a9b0c1d';
let seq = 0;
const record = (type: string, actor: string, subject: string, details: Record<string, unknown>, at = AT): DescribedRecord => ({ seq: ++seq, at, type, actor, subject, details });

describe('urgent messages in the audit export', () => {
  it('names who acknowledged whose message, when, and that the relay verified the signature', () => {
    expect(describer.sentence(record('message.acknowledged', `${BEN}.1`, MESSAGE, { sender: ANNA, acknowledgedAt: AT + 420_000, identityKey: 'BQabcdefghijklmnop' })))
      .toBe("Ben Okafor (bokafor, nurse) at Ward 4 nurses' station acknowledged Dr. Anna Smith (asmith, clinician)'s urgent message aa11bb22… at 2026-12-02 11:12:00 GMT+1; the relay verified the signature with the workstation's identity key BQabcdefghij….");
  });

  it("gives the relay's time of an acknowledgement, the workstation's claim beside it, and says when it is self-reported", () => {
    expect(describer.sentence(record('message.acknowledged', `${BEN}.1`, MESSAGE, { sender: ANNA, acknowledgedAt: AT + 420_000, claimedAt: AT + 400_000, identityKey: 'BQabcdefghijklmnop' })))
      .toBe("Ben Okafor (bokafor, nurse) at Ward 4 nurses' station acknowledged Dr. Anna Smith (asmith, clinician)'s urgent message aa11bb22… at 2026-12-02 11:12:00 GMT+1; the relay verified the signature with the workstation's identity key BQabcdefghij….");
    expect(describer.sentence(record('message.acknowledged', `${CHIDI}.1`, MESSAGE, { sender: ANNA, acknowledgedAt: AT + 420_000, claimedAt: 0, identityKey: 'BQabcdefghijklmnop', selfReported: true })))
      .toBe("Dr. Chidi Nwosu (cnwosu, clinician) at Radiology reading room acknowledged Dr. Anna Smith (asmith, clinician)'s urgent message aa11bb22… at 2026-12-02 11:12:00 GMT+1 (the workstation said 1970-01-01 01:00:00 GMT+1); the relay verified the signature with the workstation's identity key BQabcdefghij…; self-reported: no escalation the relay held shows the message reached them.");
  });

  it('says whom the acknowledger covered for, on the relay and on the workstations', () => {
    expect(describer.sentence(record('message.acknowledged', `${CHIDI}.1`, MESSAGE, { sender: ANNA, acknowledgedAt: AT + 420_000, identityKey: 'BQabcdefghijklmnop', coveringFor: BEN })))
      .toBe("Dr. Chidi Nwosu (cnwosu, clinician) at Radiology reading room acknowledged Dr. Anna Smith (asmith, clinician)'s urgent message aa11bb22…, covering for Ben Okafor (bokafor, nurse), at 2026-12-02 11:12:00 GMT+1; the relay verified the signature with the workstation's identity key BQabcdefghij….");
    expect(describer.sentence({ seq: ++seq, at: AT, type: 'acknowledgement.received', details: { acknowledger: `${CHIDI}.1`, sender: ANNA, message: MESSAGE, coveringFor: BEN, passedOnBy: `${ANNA}.1` } }))
      .toContain("acknowledged Dr. Anna Smith (asmith, clinician)'s urgent message aa11bb22…, covering for Ben Okafor (bokafor, nurse); the signature was verified (passed on by Dr. Anna Smith");
  });

  it('tells an escalation held, released and stopped, with names and times', () => {
    expect(describer.sentence(record('escalation.held', `${ANNA}.1`, LADDER, { message: MESSAGE, recipients: BEN, rungs: 1, rung1DueAt: AT + 300_000, rung1To: CHIDI })))
      .toBe("Dr. Anna Smith (asmith, clinician) at Ward 4 nurses' station sent an urgent message aa11bb22… to Ben Okafor (bokafor, nurse) with an escalation the relay holds without being able to read it: unless acknowledged, to Dr. Chidi Nwosu (cnwosu, clinician) at 2026-12-02 11:10:00 GMT+1.");
    expect(describer.sentence(record('escalation.released', 'system', LADDER, { message: MESSAGE, sender: ANNA, rung: 1, dueAt: AT + 300_000, lateMs: 300, recipients: CHIDI, devices: 1 })))
      .toBe("Nobody acknowledged Dr. Anna Smith (asmith, clinician)'s urgent message aa11bb22… in time: the relay released step 1 of its escalation to Dr. Chidi Nwosu (cnwosu, clinician) (due 2026-12-02 11:10:00 GMT+1; 1 workstation).");
    expect(describer.sentence(record('escalation.cancelled', `${BEN}.1`, LADDER, { message: MESSAGE, sender: ANNA, rungs: 1 })))
      .toBe("Ben Okafor (bokafor, nurse)'s acknowledgement stopped the escalation of Dr. Anna Smith (asmith, clinician)'s urgent message aa11bb22…: 1 step will not be released.");
  });

  it('says what a purge after retention deleted', () => {
    expect(describer.sentence(record('escalation.purged', 'system', '', { ladders: 3, acknowledgements: 1, retentionDays: 30 })))
      .toBe('The relay deleted, after the retention period, 3 finished escalations and 1 recorded acknowledgement older than 30 days (this log keeps what happened to them).');
  });

  it('counts urgent sends per sender once each, however many workstations they reached', () => {
    const tallies = new PeopleTallies(names);
    const add = (r: DescribedRecord) => tallies.add(r, describer.facts(r));
    // Two urgent sends (each to two of Ben's workstations), one ordinary message.
    for (const at of [AT, AT + 60_000]) for (const d of [1, 2]) add(record('envelope.accepted', `${ANNA}.1`, `0000000${d}-1e2f-4a4b-8c5d-6e7f8a9b0c1d`, { recipient: `${BEN}.${d}`, urgent: true }, at));
    add(record('envelope.accepted', `${ANNA}.1`, '00000003-1e2f-4a4b-8c5d-6e7f8a9b0c1d', { recipient: `${BEN}.1` }, AT + 120_000));
    add(record('escalation.held', `${ANNA}.1`, LADDER, { message: MESSAGE, recipients: BEN, rungs: 1 }));
    add(record('escalation.released', 'system', LADDER, { recipients: CHIDI }));
    add(record('message.acknowledged', `${BEN}.1`, MESSAGE, { sender: ANNA }));
    expect(tallies.get(ANNA)).toMatchObject({ urgentSent: 2, escalationsHeld: 1, sent: 5 });
    expect(tallies.get(BEN)?.acknowledged).toBe(1);
    expect(tallies.get(CHIDI)?.escalatedTo).toBe(1);
  });
});
