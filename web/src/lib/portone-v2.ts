/**
 * PortOne V2's browser SDK (`browser-sdk.js`, from the URL the service configures: the
 * sandbox's drop-in in development, https://cdn.portone.io/v2/browser-sdk.js in
 * production): loads it once and calls `PortOne.requestPayment`.
 */
export interface V2PaymentRequest {
  storeId: string;
  channelKey: string;
  paymentId: string;
  orderName: string;
  totalAmount: number;
  currency: 'CURRENCY_KRW';
  payMethod: 'CARD' | 'VIRTUAL_ACCOUNT';
  isEscrow: boolean;
  customer?: { fullName?: string; email?: string; phoneNumber?: string };
  redirectUrl?: string;
  noticeUrls?: string[];
}

/** `{paymentId, txId}`, or on failure `{code, message}`. */
export interface V2PaymentResult {
  paymentId?: string;
  txId?: string;
  code?: string;
  message?: string;
}

interface PortOneSdk {
  requestPayment(request: V2PaymentRequest): Promise<V2PaymentResult | undefined>;
}

declare global {
  interface Window {
    PortOne?: PortOneSdk;
  }
}

let loading: Promise<PortOneSdk> | null = null;
let loadedFrom: string | null = null;

export function loadPortOne(src: string): Promise<PortOneSdk> {
  if (loading && loadedFrom === src) return loading;
  loadedFrom = src;
  loading = new Promise<PortOneSdk>((resolve, reject) => {
    const script = document.createElement('script');
    script.src = src;
    script.async = true;
    script.onload = () => (window.PortOne ? resolve(window.PortOne) : reject(new Error('browser-sdk.js loaded but PortOne is missing')));
    script.onerror = () => reject(new Error(`could not load ${src}`));
    document.head.appendChild(script);
  });
  loading.catch(() => {
    loading = null;
  });
  return loading;
}
