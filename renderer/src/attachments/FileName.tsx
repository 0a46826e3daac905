import { displayFileName, splitExtension } from '../../../shared/fileNames';

/**
 * An attachment's name as it really is (shared/fileNames.ts: no direction overrides or other invisible characters,
 * which the core removed already; again here, whatever the source), isolated from the text around it, with the
 * extension in a span of its own that is never cut off: a long name is shortened before its extension, so
 * "report.pdf                    .exe" cannot show as "report.pdf…".
 */
export function FileName({ name, className = '' }: { name: string; className?: string }) {
  const shown = displayFileName(name) ?? name;
  const { stem, extension } = splitExtension(shown);
  return (
    <bdi className={`file-name ${className}`} dir="ltr" title={shown}>
      <span className="file-stem">{stem}</span>
      {extension && <span className="file-extension">.{extension}</span>}
    </bdi>
  );
}
