/**
 * Issue 19, coverage: a message records how presence forwarding touched it, as JSON (null: not at all). On the
 * sender's copy, whom it was also sent to because the recipient was away ("Dr. Lee is off shift: also sent to
 * Dr. Patel"); on the forward target's copy, for whom it was forwarded ("Forwarded: Dr. Lee is off shift").
 */
export const name = 'coverage';

export const up = `
ALTER TABLE messages ADD COLUMN coverage TEXT;
`;
