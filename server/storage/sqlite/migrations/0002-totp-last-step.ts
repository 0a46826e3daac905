/** The last TOTP time step accepted per account, so a code is refused a second time even after a restart. */
export const name = 'totp-last-step';

export const up = `
ALTER TABLE users ADD COLUMN totp_last_step INTEGER NOT NULL DEFAULT -1;
`;
