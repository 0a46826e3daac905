import QRCode from 'qrcode';
import { useEffect, useState } from 'react';

/** A QR code as an SVG image (no canvas, no network; allowed by the CSP as a data: image). */
export function Qr({ value, label, size = 176 }: { value: string | Uint8Array; label: string; size?: number }) {
  const [src, setSrc] = useState<string | null>(null);
  useEffect(() => {
    let live = true;
    const data = typeof value === 'string' ? value : [{ data: value, mode: 'byte' as const }];
    void QRCode.toString(data, { type: 'svg', margin: 1, errorCorrectionLevel: 'M', color: { dark: '#0f172a', light: '#ffffff' } }).then((svg) => {
      if (live) setSrc(`data:image/svg+xml;charset=utf-8,${encodeURIComponent(svg)}`);
    });
    return () => {
      live = false;
    };
  }, [value]);
  return src ? <img className="qr" src={src} alt={label} width={size} height={size} /> : <div className="qr" style={{ width: size, height: size }} aria-label={label} role="img" />;
}
