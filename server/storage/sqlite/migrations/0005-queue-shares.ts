/**
 * What each sending account holds in each recipient device's queue (envelopes, and bytes of ciphertext
 * counted as `queue_usage` counts them), kept exact by triggers on every insert and delete however it
 * happens, so one sender's share of a queue is checked with one row read inside the write transaction.
 * A row goes when its count reaches zero: the table holds only pairs with something queued.
 */
export const name = 'queue-shares';

export const up = `
CREATE TABLE queue_shares (
  user_id TEXT NOT NULL,
  device_id INTEGER NOT NULL,
  sender_user TEXT NOT NULL,
  envelopes INTEGER NOT NULL,
  bytes INTEGER NOT NULL,
  PRIMARY KEY (user_id, device_id, sender_user)
) STRICT;

INSERT INTO queue_shares (user_id, device_id, sender_user, envelopes, bytes)
  SELECT recipient_user, recipient_device, sender_user, count(*), sum(length(content) * 3 / 4) FROM envelopes
  GROUP BY recipient_user, recipient_device, sender_user;

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
