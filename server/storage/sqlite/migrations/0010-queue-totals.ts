/**
 * Each queue's total is a row of its own again (sender '' in queue_shares), kept by the same triggers:
 * the limit check reads one row instead of summing every sender's share (a workstation offline while a
 * large care team wrote holds thousands), and a store shared by several relay instances has one row per
 * queue to lock. In the same WITHOUT ROWID table the total sits beside its shares, on the page they dirty.
 */
export const name = 'queue-totals';

export const up = `
INSERT INTO queue_shares (user_id, device_id, sender_user, envelopes, bytes)
  SELECT user_id, device_id, '', sum(envelopes), sum(bytes) FROM queue_shares GROUP BY user_id, device_id;

DROP TRIGGER queue_shares_on_insert;
DROP TRIGGER queue_shares_on_delete;

CREATE TRIGGER queue_shares_on_insert AFTER INSERT ON envelopes BEGIN
  INSERT INTO queue_shares (user_id, device_id, sender_user, envelopes, bytes)
  VALUES (NEW.recipient_user, NEW.recipient_device, NEW.sender_user, 1, length(NEW.content) * 3 / 4),
         (NEW.recipient_user, NEW.recipient_device, '', 1, length(NEW.content) * 3 / 4)
  ON CONFLICT (user_id, device_id, sender_user) DO UPDATE SET envelopes = envelopes + 1, bytes = bytes + excluded.bytes;
END;

CREATE TRIGGER queue_shares_on_delete AFTER DELETE ON envelopes BEGIN
  UPDATE queue_shares SET envelopes = envelopes - 1, bytes = bytes - length(OLD.content) * 3 / 4
  WHERE user_id = OLD.recipient_user AND device_id = OLD.recipient_device AND sender_user IN (OLD.sender_user, '');
  DELETE FROM queue_shares
  WHERE user_id = OLD.recipient_user AND device_id = OLD.recipient_device AND sender_user IN (OLD.sender_user, '') AND envelopes = 0;
END;
`;
