import type { DesktopBridge } from '../../src-engine/contracts/desktop.ts';

declare global {
  interface Window {
    /** The preload bridge; only in Electron. */
    agencia?: DesktopBridge;
  }
}
