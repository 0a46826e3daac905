/**
 * What each recipient device's queue holds (envelopes, and bytes of ciphertext: base64 characters * 3/4),
 * kept exact by triggers on every insert and delete however it happens (send, acknowledgement, expiry,
 * revocation, deactivation), so the queue limits are checked with one row read inside the write
 * transaction instead of a sum over the whole queue.
 */
export const name = 'queue-usage';

export const up = `
CREATE TABLE queue_usage (
  user_id TEXT NOT NULL,
  device_id INTEGER NOT NULL,
  envelopes INTEGER NOT NULL,
  bytes INTEGER NOT NULL,
  PRIMARY KEY (user_id, device_id)
) STRICT;

INSERT INTO queue_usage (user_id, device_id, envelopes, bytes)
  SELECT recipient_user, recipient_device, count(*), sum(length(content) * 3 / 4) FROM envelopes GROUP BY recipient_user, recipient_device;

CREATE TRIGGER queue_usage_on_insert AFTER INSERT ON envelopes BEGIN
  INSERT INTO queue_usage (user_id, device_id, envelopes, bytes) VALUES (NEW.recipient_user, NEW.recipient_device, 1, length(NEW.content) * 3 / 4)
  ON CONFLICT (user_id, device_id) DO UPDATE SET envelopes = envelopes + 1, bytes = bytes + excluded.bytes;
END;

CREATE TRIGGER queue_usage_on_delete AFTER DELETE ON envelopes BEGIN
  UPDATE queue_usage SET envelopes = envelopes - 1, bytes = bytes - length(OLD.content) * 3 / 4
  WHERE user_id = OLD.recipient_user AND device_id = OLD.recipient_device;
END;
`;
