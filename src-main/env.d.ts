// electron-vite's module types for the main process, and Vite's `?inline` (a data: URL of the file).
/// <reference types="electron-vite/node" />

declare module '*.png?inline' {
  const dataUrl: string;
  export default dataUrl;
}
