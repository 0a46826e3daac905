/**
 * A message is the same message only from the same sender: its id is chosen by whoever sent it, so another sender
 * may use one this profile holds already (by mistake, or to have a colleague's message dropped as a duplicate).
 * Such a message is kept under an id of its own here, with `wire_id` the id its sender gave it (null: the same as
 * `id`); each sender's ids are unique, so a replay of one is still stored once.
 */
export const name = 'messages-by-sender';

export const up = `
ALTER TABLE messages ADD COLUMN wire_id TEXT;
CREATE UNIQUE INDEX messages_by_sender_id ON messages (sender_user, COALESCE(wire_id, id));
`;
