/**
 * Loads the gateway's browser SDK (`iamport.js`) from the URL the service configures
 * (the sandbox's in development, https://cdn.iamport.kr/v1/iamport.js in production) and
 * wraps `IMP.request_pay` in a promise.
 */
import type Iamport from 'iamport-typings';
import type { RequestPayParams, RequestPayResponse } from 'iamport-typings';

let loading: Promise<Iamport> | null = null;
let loadedFrom: string | null = null;

export function loadIamport(src: string): Promise<Iamport> {
  if (loading && loadedFrom === src) return loading;
  loadedFrom = src;
  loading = new Promise<Iamport>((resolve, reject) => {
    const script = document.createElement('script');
    script.src = src;
    script.async = true;
    script.onload = () => (window.IMP ? resolve(window.IMP) : reject(new Error('iamport.js loaded but IMP is missing')));
    script.onerror = () => reject(new Error(`could not load ${src}`));
    document.head.appendChild(script);
  });
  loading.catch(() => {
    loading = null;
  });
  return loading;
}

export function requestPay(imp: Iamport, impCode: string, params: RequestPayParams): Promise<RequestPayResponse> {
  imp.init(impCode);
  return new Promise((resolve) => imp.request_pay(params, resolve));
}

/** Whether the SDK's answer is a success (`success` on PC, `imp_success` on the mobile redirect). */
export function paySucceeded(r: Pick<RequestPayResponse, 'success' | 'imp_success'>): boolean {
  return r.success === true || r.imp_success === true;
}
