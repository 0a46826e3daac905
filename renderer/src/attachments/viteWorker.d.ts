/** Vite's `?worker` import: the module bundled as a worker script of the app's own origin (no blob:, no eval). */
declare module '*?worker' {
  const WorkerConstructor: new () => Worker;
  export default WorkerConstructor;
}
