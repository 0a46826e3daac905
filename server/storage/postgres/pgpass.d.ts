/** pgpass (the file lookup node-postgres itself used): the password for a connection from PGPASSFILE or ~/.pgpass. */
declare module 'pgpass' {
  interface ConnectionInfo {
    host: string;
    port: number;
    database: string;
    user: string;
  }
  function pgPass(connection: ConnectionInfo, done: (password: string | undefined) => void): void;
  export = pgPass;
}
