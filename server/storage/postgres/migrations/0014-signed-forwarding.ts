/**
 * Issue 19, forwarding as the absent clinician's signed statement: beside a forward-to, when its device signed
 * it, the signature, and the identity key that device had uploaded then (which verified it). A forward-to from
 * before this version carries no signature: the relay does not hand it out (the status stays), so nobody's
 * messages are copied on the relay's word; the clinician sets it again. The row keeps what was set.
 */
export const name = 'signed-forwarding';

export const up = `
ALTER TABLE presence ADD COLUMN forward_signed_at BIGINT;
ALTER TABLE presence ADD COLUMN forward_signature TEXT;
ALTER TABLE presence ADD COLUMN forward_identity_key TEXT;
`;
