package sample

import (
	"context"
	"errors"
	"fmt"
	"io"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// EchoUnary calls the unary Echo method with msg.
func EchoUnary(ctx context.Context, conn grpc.ClientConnInterface, msg string, opts ...grpc.CallOption) (*Reply, error) {
	out := new(structpb.Struct)
	if err := conn.Invoke(ctx, EchoMethod, wrapperspb.String(msg), out, opts...); err != nil {
		return nil, fmt.Errorf("sample: echo: %w", err)
	}
	return replyFromStruct(out), nil
}

// EchoStream opens one EchoStream and, for each of msgs in turn, sends it and
// waits for its reply. It then closes the stream and returns the replies.
func EchoStream(ctx context.Context, conn grpc.ClientConnInterface, msgs []string, opts ...grpc.CallOption) ([]*Reply, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // releases the stream on early return
	desc := &grpc.StreamDesc{StreamName: "EchoStream", ServerStreams: true, ClientStreams: true}
	stream, err := conn.NewStream(ctx, desc, EchoStreamMethod, opts...)
	if err != nil {
		return nil, fmt.Errorf("sample: echo stream: %w", err)
	}
	replies := make([]*Reply, 0, len(msgs))
	for _, m := range msgs {
		r, err := echoRoundTrip(stream, m)
		if err != nil {
			return replies, fmt.Errorf("sample: echo stream: %w", err)
		}
		replies = append(replies, r)
	}
	if err := closeStream(stream); err != nil {
		return replies, fmt.Errorf("sample: echo stream: %w", err)
	}
	return replies, nil
}

func echoRoundTrip(stream grpc.ClientStream, msg string) (*Reply, error) {
	if err := stream.SendMsg(wrapperspb.String(msg)); err != nil {
		return nil, fmt.Errorf("send: %w", err)
	}
	out := new(structpb.Struct)
	if err := stream.RecvMsg(out); err != nil {
		return nil, fmt.Errorf("receive: %w", err)
	}
	return replyFromStruct(out), nil
}

// closeStream half-closes the stream and waits for the server's status.
func closeStream(stream grpc.ClientStream) error {
	if err := stream.CloseSend(); err != nil {
		return fmt.Errorf("close send: %w", err)
	}
	err := stream.RecvMsg(new(structpb.Struct))
	switch {
	case errors.Is(err, io.EOF):
		return nil
	case err != nil:
		return fmt.Errorf("finish: %w", err)
	default:
		return errors.New("finish: unexpected extra reply")
	}
}

func replyFromStruct(s *structpb.Struct) *Reply {
	get := func(k string) string { return s.GetFields()[k].GetStringValue() }
	return &Reply{
		Service:   get("service"),
		Version:   get("version"),
		Instance:  get("instance"),
		Message:   get("message"),
		RequestID: get("request_id"),
	}
}
