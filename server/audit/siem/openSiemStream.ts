import { assertNever } from '../../../shared/exhaustive';
import { JsonLinesSink } from './jsonLinesSink';
import type { SiemConfig } from './SiemConfig';
import type { SiemSink } from './SiemStream';
import { SyslogTlsSink } from './syslogTlsSink';

/** The sink a config names, its files checked now (a ConfigurationError for anything wrong). */
export function openSiemSink(config: SiemConfig): SiemSink {
  switch (config.sink) {
    case 'syslog-tls':
      return SyslogTlsSink.open(config);
    case 'json-lines':
      return JsonLinesSink.open(config);
    default:
      return assertNever(config, 'SIEM sink');
  }
}
