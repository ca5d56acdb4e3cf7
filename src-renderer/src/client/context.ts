import { createContext, useContext } from 'react';
import type { DesktopBridge } from '../../../src-engine/contracts/desktop.ts';
import type { EngineClient } from './engine-client.ts';

export const ClientContext = createContext<EngineClient | null>(null);
/** The preload bridge when running in Electron; null in a browser. */
export const BridgeContext = createContext<DesktopBridge | null>(null);

export function useClient(): EngineClient {
  const client = useContext(ClientContext);
  if (!client) throw new Error('useClient outside <ClientContext.Provider>');
  return client;
}

export function useBridge(): DesktopBridge | null {
  return useContext(BridgeContext);
}
