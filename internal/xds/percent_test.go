package xds

import (
	"testing"

	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
	networking "istio.io/api/networking/v1alpha3"
)

func TestFractionalPercent(t *testing.T) {
	for _, tc := range []struct {
		in   float64
		want uint32
	}{{100, 1000000}, {50, 500000}, {12.5, 125000}, {0.1, 1000}, {0.0001, 1}, {33.3333, 333333}, {0, 0}} {
		got := fractionalPercent(&networking.Percent{Value: tc.in})
		if got.Numerator != tc.want || got.Denominator != typev3.FractionalPercent_MILLION {
			t.Errorf("fractionalPercent(%v) = %v, want %d/MILLION", tc.in, got, tc.want)
		}
	}
	if got := integerPercent(30); got.Numerator != 30 || got.Denominator != typev3.FractionalPercent_HUNDRED {
		t.Errorf("integerPercent(30) = %v", got)
	}
}

func TestMirrorFraction(t *testing.T) {
	for _, tc := range []struct {
		name       string
		percentage *networking.Percent
		percent    *wrapperspb.UInt32Value
		num        uint32
		den        typev3.FractionalPercent_DenominatorType
		none       bool
	}{
		{name: "default 100%", num: 100, den: typev3.FractionalPercent_HUNDRED},
		{name: "percentage", percentage: &networking.Percent{Value: 2.5}, num: 25000, den: typev3.FractionalPercent_MILLION},
		{name: "percentage wins", percentage: &networking.Percent{Value: 1}, percent: wrapperspb.UInt32(50), num: 10000, den: typev3.FractionalPercent_MILLION},
		{name: "deprecated percent", percent: wrapperspb.UInt32(50), num: 50, den: typev3.FractionalPercent_HUNDRED},
		{name: "explicit 0", percentage: &networking.Percent{}, none: true},
		{name: "explicit 0 percent", percent: wrapperspb.UInt32(0), none: true},
	} {
		got := mirrorFraction(tc.percentage, tc.percent)
		switch {
		case tc.none && got != nil:
			t.Errorf("%s: got %v, want no mirroring", tc.name, got)
		case !tc.none && (got.GetDefaultValue().GetNumerator() != tc.num || got.GetDefaultValue().GetDenominator() != tc.den):
			t.Errorf("%s: got %v, want %d/%v", tc.name, got, tc.num, tc.den)
		}
	}
}

func TestFaultConfig(t *testing.T) {
	fixed := &networking.HTTPFaultInjection_Delay_FixedDelay{FixedDelay: durationpb.New(1e9)}
	if f := faultConfig(nil); f != nil {
		t.Errorf("no fault: %v", f)
	}
	if f := faultConfig(&networking.HTTPFaultInjection{Delay: &networking.HTTPFaultInjection_Delay{
		HttpDelayType: &networking.HTTPFaultInjection_Delay_ExponentialDelay{ExponentialDelay: durationpb.New(1e9)},
	}}); f != nil {
		t.Errorf("an exponential delay alone is nothing Envoy can do: %v", f)
	}
	f := faultConfig(&networking.HTTPFaultInjection{
		Delay: &networking.HTTPFaultInjection_Delay{HttpDelayType: fixed},
		Abort: &networking.HTTPFaultInjection_Abort{
			ErrorType:  &networking.HTTPFaultInjection_Abort_GrpcStatus{GrpcStatus: "NOT_FOUND"},
			Percentage: &networking.Percent{Value: 10},
		},
	})
	switch {
	case f.GetDelay().GetFixedDelay().AsDuration() != 1e9 || f.GetDelay().GetPercentage().GetNumerator() != 0:
		t.Errorf("delay without percentage must be 0%%: %v", f.GetDelay())
	case f.GetAbort().GetGrpcStatus() != 5 || f.GetAbort().GetPercentage().GetNumerator() != 100000:
		t.Errorf("abort: %v", f.GetAbort())
	}
}
