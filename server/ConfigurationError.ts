/** Something about the relay's setup or its data directory is wrong; the message says what to do. */
export class ConfigurationError extends Error {}
