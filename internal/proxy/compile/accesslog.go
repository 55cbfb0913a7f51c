package compile

import (
	"errors"
	"fmt"

	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/config/accesslog/v3"
	filev3 "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/file/v3"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/halyard-mesh/halyard/internal/proxy/accesslog"
	"github.com/halyard-mesh/halyard/internal/proxy/hcm"
)

const fileAccessLogType = "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog"

// accessLogs compiles an HCM's access_log: envoy.access_loggers.file
// (FileAccessLog with path and log_format: text_format_source inline
// string, json_format, or none for the default format). Filters and other
// loggers are NACKed.
func accessLogs(logs []*accesslogv3.AccessLog, sinks *accesslog.Sinks) ([]hcm.AccessLogger, error) {
	var out []hcm.AccessLogger
	for _, al := range logs {
		l, err := fileAccessLog(al, sinks)
		if err != nil {
			return nil, fmt.Errorf("access_log %q: %w", al.GetName(), err)
		}
		out = append(out, l)
	}
	return out, nil
}

func fileAccessLog(al *accesslogv3.AccessLog, sinks *accesslog.Sinks) (*accesslog.Logger, error) {
	if al.GetFilter() != nil {
		return nil, errors.New("access log filters are not supported")
	}
	tc := al.GetTypedConfig()
	if tc.GetTypeUrl() != fileAccessLogType {
		return nil, fmt.Errorf("unsupported access logger %q (only %s)", tc.GetTypeUrl(), fileAccessLogType)
	}
	f := &filev3.FileAccessLog{}
	if err := tc.UnmarshalTo(f); err != nil {
		return nil, err
	}
	cfg := accesslog.Config{Path: f.GetPath()}
	switch {
	case f.GetLogFormat() != nil:
		lf := f.GetLogFormat()
		switch {
		case lf.GetJsonFormat() != nil:
			cfg.JSON = map[string]string{}
			for k, v := range lf.GetJsonFormat().GetFields() {
				if _, ok := v.GetKind().(*structpb.Value_StringValue); !ok {
					return nil, fmt.Errorf("json_format %q: only string values are supported", k)
				}
				cfg.JSON[k] = v.GetStringValue()
			}
		case lf.GetTextFormatSource() != nil:
			cfg.Text = lf.GetTextFormatSource().GetInlineString()
			if cfg.Text == "" {
				return nil, errors.New("text_format_source: only inline_string is supported")
			}
		default:
			cfg.Text = lf.GetTextFormat()
		}
	case f.GetJsonFormat() != nil:
		return nil, errors.New("json_format: use log_format")
	default:
		cfg.Text = f.GetFormat()
	}
	return accesslog.New(cfg, sinks)
}
