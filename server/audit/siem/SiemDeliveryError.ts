/** A batch the SIEM's receiver did not accept (it is sent again); the message says why, never what the records hold. */
export class SiemDeliveryError extends Error {
  readonly code = 'SIEM_NOT_ACCEPTED';
}
