/** When the user read each received message (null: unread), for unread counts, receipts and urgent reminders. */
export const name = 'read-state';

export const up = `
ALTER TABLE messages ADD COLUMN read_at INTEGER;
CREATE INDEX messages_unread ON messages (conversation_id, read_at);
`;
