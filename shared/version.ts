/** The release of Rounds (app and relay); kept equal to package.json's version by the packaging test. */
export const ROUNDS_VERSION = '0.1.0';
