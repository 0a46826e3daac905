/**
 * Every accepted envelope and every acknowledgement updated two counter tables (a queue's total and each
 * sender account's share of it), each a table page and an index page: four of the eleven pages a send's
 * commit encrypted and wrote. The shares alone say the total (their sum over the queue's senders, a few
 * rows), and keyed WITHOUT ROWID a share is one page: one page where there were four.
 */
export const name = 'queue-shares-alone';

export const up = `
DROP TRIGGER queue_usage_on_insert;
DROP TRIGGER queue_usage_on_delete;
DROP TABLE queue_usage;
DROP TRIGGER queue_shares_on_insert;
DROP TRIGGER queue_shares_on_delete;

CREATE TABLE queue_shares_keyed (
  user_id TEXT NOT NULL,
  device_id INTEGER NOT NULL,
  sender_user TEXT NOT NULL,
  envelopes INTEGER NOT NULL,
  bytes INTEGER NOT NULL,
  PRIMARY KEY (user_id, device_id, sender_user)
) STRICT, WITHOUT ROWID;
INSERT INTO queue_shares_keyed (user_id, device_id, sender_user, envelopes, bytes)
  SELECT recipient_user, recipient_device, sender_user, count(*), sum(length(content) * 3 / 4) FROM envelopes
  GROUP BY recipient_user, recipient_device, sender_user;
DROP TABLE queue_shares;
ALTER TABLE queue_shares_keyed RENAME TO queue_shares;

CREATE TRIGGER queue_shares_on_insert AFTER INSERT ON envelopes BEGIN
  INSERT INTO queue_shares (user_id, device_id, sender_user, envelopes, bytes)
  VALUES (NEW.recipient_user, NEW.recipient_device, NEW.sender_user, 1, length(NEW.content) * 3 / 4)
  ON CONFLICT (user_id, device_id, sender_user) DO UPDATE SET envelopes = envelopes + 1, bytes = bytes + excluded.bytes;
END;

CREATE TRIGGER queue_shares_on_delete AFTER DELETE ON envelopes BEGIN
  UPDATE queue_shares SET envelopes = envelopes - 1, bytes = bytes - length(OLD.content) * 3 / 4
  WHERE user_id = OLD.recipient_user AND device_id = OLD.recipient_device AND sender_user = OLD.sender_user;
  DELETE FROM queue_shares
  WHERE user_id = OLD.recipient_user AND device_id = OLD.recipient_device AND sender_user = OLD.sender_user AND envelopes = 0;
END;
`;
