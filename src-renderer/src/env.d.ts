import type { DesktopBridge } from '../../src-main/desktop-contract.ts';

declare global {
  interface Window {
    /** The preload bridge; only in Electron. */
    agencia?: DesktopBridge;
  }
}
