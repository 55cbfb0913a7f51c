package sample

import (
	"context"
	"errors"
	"io"
	"log/slog"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// EchoServiceName is the full name of the hand-written gRPC echo service.
// Its methods take a google.protobuf.StringValue and return a
// google.protobuf.Struct with service, version, instance, message and
// request_id (the incoming x-request-id metadata).
const EchoServiceName = "halyard.sample.v1.Echo"

// Full method names of the echo service.
const (
	EchoMethod       = "/" + EchoServiceName + "/Echo"
	EchoStreamMethod = "/" + EchoServiceName + "/EchoStream"
)

// echoService is the handler type of the echo ServiceDesc.
type echoService interface {
	echo(ctx context.Context, msg *wrapperspb.StringValue) (*structpb.Struct, error)
	echoStream(stream grpc.ServerStream) error
}

// echoServiceDesc describes the echo service without generated code.
func echoServiceDesc() *grpc.ServiceDesc {
	return &grpc.ServiceDesc{
		ServiceName: EchoServiceName,
		HandlerType: (*echoService)(nil),
		Methods:     []grpc.MethodDesc{{MethodName: "Echo", Handler: echoUnaryHandler}},
		Streams: []grpc.StreamDesc{{
			StreamName:    "EchoStream",
			Handler:       echoStreamHandler,
			ServerStreams: true,
			ClientStreams: true,
		}},
		Metadata: "halyard/sample/v1/echo.proto",
	}
}

func echoUnaryHandler(srv any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
	in := new(wrapperspb.StringValue)
	if err := dec(in); err != nil {
		return nil, err
	}
	s := srv.(echoService)
	if interceptor == nil {
		return s.echo(ctx, in)
	}
	info := &grpc.UnaryServerInfo{Server: srv, FullMethod: EchoMethod}
	handler := func(ctx context.Context, req any) (any, error) {
		return s.echo(ctx, req.(*wrapperspb.StringValue))
	}
	return interceptor(ctx, in, info, handler)
}

func echoStreamHandler(srv any, stream grpc.ServerStream) error {
	return srv.(echoService).echoStream(stream)
}

// echoServer implements echoService.
type echoServer struct {
	id  identity
	log *slog.Logger
}

func (e *echoServer) echo(ctx context.Context, msg *wrapperspb.StringValue) (*structpb.Struct, error) {
	return e.reply(ctx, msg.GetValue()), nil
}

// echoStream answers every message received, in order, until the client
// closes its side of the stream.
func (e *echoServer) echoStream(stream grpc.ServerStream) error {
	ctx := stream.Context()
	for {
		in := new(wrapperspb.StringValue)
		err := stream.RecvMsg(in)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := stream.SendMsg(e.reply(ctx, in.GetValue())); err != nil {
			return err
		}
	}
}

func (e *echoServer) reply(ctx context.Context, msg string) *structpb.Struct {
	var requestID string
	if vs := metadata.ValueFromIncomingContext(ctx, "x-request-id"); len(vs) > 0 {
		requestID = vs[0]
	}
	e.log.Debug("grpc echo", "message_len", len(msg), "request_id", requestID)
	return &structpb.Struct{Fields: map[string]*structpb.Value{
		"service":    structpb.NewStringValue(e.id.service),
		"version":    structpb.NewStringValue(e.id.version),
		"instance":   structpb.NewStringValue(e.id.instance),
		"message":    structpb.NewStringValue(msg),
		"request_id": structpb.NewStringValue(requestID),
	}}
}

// newGRPCServer returns a gRPC server with the echo and health services.
func newGRPCServer(id identity, log *slog.Logger) (*grpc.Server, *health.Server) {
	srv := grpc.NewServer()
	srv.RegisterService(echoServiceDesc(), &echoServer{id: id, log: log})
	hs := health.NewServer()
	hs.SetServingStatus(EchoServiceName, healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(srv, hs)
	return srv, hs
}
