/**
 * Runs of consecutive failed sign-ins per scope (an account's unproven attempts, or one enrolled
 * workstation's), kept until a success or an admin's unlock: the hard stop after 100 in a row (NIST SP
 * 800-63B) counts them, however slowly they came. `login_failures` only keeps a sliding window.
 */
export const name = 'login-streaks';

export const up = `
CREATE TABLE login_streaks (
  scope TEXT PRIMARY KEY,
  failures INTEGER NOT NULL,
  first_at INTEGER NOT NULL,
  last_at INTEGER NOT NULL
) STRICT;
`;
