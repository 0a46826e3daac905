/**
 * Issue 19, coverage: an acknowledgement made by the colleague covering for a recipient (from the forwarding copy
 * they got) names whom they covered for; the name is part of what was signed, so it is kept to verify it again.
 * An acknowledgement the message's sender passed on, signed by a workstation this one has no identity key for,
 * could not be verified here: `vouched_by` names the sender whose word it is (null: verified here). A ladder
 * handed to the relay keeps where each of its rungs went (`placement`: the relay's rung number, or why none was
 * held: its people had the message already, or had no workstation), so the progress shown stays in step.
 */
export const name = 'covering-acknowledgements';

export const up = `
ALTER TABLE acknowledgements ADD COLUMN covering_for TEXT;
ALTER TABLE acknowledgements ADD COLUMN vouched_by TEXT;
ALTER TABLE escalation_ladders ADD COLUMN placement TEXT;
`;
