/**
 * Every recorded sign-in failure deletes those older than a day: by time, which the (scope, at) index
 * cannot serve, so without this each insert scanned the table (and a flood of failures for made-up
 * usernames grows it at request rate).
 */
export const name = 'login-failures-by-time';

export const up = `
CREATE INDEX login_failures_by_time ON login_failures (at);
`;
