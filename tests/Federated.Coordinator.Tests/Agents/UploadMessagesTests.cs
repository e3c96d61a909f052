using System.Buffers;
using Federated.Coordinator.Agents;
using Federated.Protocol.V1;
using Google.Protobuf;
using Grpc.Core;

namespace Federated.Coordinator.Tests.Agents;

public sealed class UploadMessagesTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(127)]          // a one-byte length
    [InlineData(128)]          // a two-byte length
    [InlineData(1 << 20)]      // an agent's full chunk
    public void A_data_message_parses_into_a_pooled_buffer_holding_exactly_its_bytes(int length)
    {
        var data = new byte[length];
        new Random(length).NextBytes(data);
        var sent = new UploadUpdateRequest { Data = ByteString.CopyFrom(data) };

        var parsed = UploadMessages.Parse(new Payload(sent.ToByteArray(), segment: 1000));

        Assert.Equal(UploadUpdateRequest.PartOneofCase.Data, parsed.PartCase);
        Assert.Equal(data, parsed.Data.ToByteArray());
        Assert.Equal(sent, parsed);
        UploadMessages.Release(parsed);
        UploadMessages.Release(parsed); // a second release returns nothing twice
    }

    [Fact]
    public void Every_other_message_is_parsed_as_the_generated_parser_parses_it()
    {
        var header = new UploadUpdateRequest { Header = new UploadHeader { UploadId = "u-1", Sha256 = new string('a', 64), Size = 4096, Rank = 8, ExampleCount = 3 } };
        var empty = new UploadUpdateRequest { Data = ByteString.Empty };
        // Data followed by another field (the header wins, as the last member of a oneof does): not the fast path's shape.
        var both = new UploadUpdateRequest { Data = ByteString.CopyFrom(1, 2, 3) }.ToByteArray().Concat(header.ToByteArray()).ToArray();

        foreach (var bytes in new[] { header.ToByteArray(), empty.ToByteArray(), both })
            Assert.Equal(UploadUpdateRequest.Parser.ParseFrom(bytes), UploadMessages.Parse(new Payload(bytes, segment: 7)));
    }

    [Fact]
    public void A_data_field_whose_length_disagrees_with_the_message_is_refused_like_the_generated_parser_refuses_it()
    {
        var bytes = new UploadUpdateRequest { Data = ByteString.CopyFrom(new byte[300]) }.ToByteArray()[..^1]; // one byte short

        Assert.Throws<InvalidProtocolBufferException>(() => UploadMessages.Parse(new Payload(bytes, segment: 64)));
    }

    [Fact]
    public void The_agent_service_binds_uploads_to_the_pooled_parser_and_every_other_method_as_generated()
    {
        var binder = new Recording();

        UploadMessages.BindService(binder, null!);

        var generated = new Recording();
        Protocol.V1.AgentService.BindService(generated, null!);
        Assert.Equal(generated.Methods.Select(m => m.FullName), binder.Methods.Select(m => m.FullName));
        var upload = Assert.Single(binder.Methods.OfType<Method<UploadUpdateRequest, UploadUpdateResponse>>());
        var bytes = new UploadUpdateRequest { Data = ByteString.CopyFrom(9, 8, 7) }.ToByteArray();
        var parsed = upload.RequestMarshaller.ContextualDeserializer(new Payload(bytes, segment: 2));
        Assert.Equal([9, 8, 7], parsed.Data.ToByteArray());
        UploadMessages.Release(parsed);
    }

    /// <summary>A received message as gRPC hands it over: a sequence of segments.</summary>
    sealed class Payload(byte[] bytes, int segment) : DeserializationContext
    {
        public override int PayloadLength => bytes.Length;

        public override ReadOnlySequence<byte> PayloadAsReadOnlySequence()
        {
            Segment? first = null, last = null;
            for (int at = 0; at < bytes.Length; at += segment)
            {
                var next = new Segment(bytes.AsMemory(at, Math.Min(segment, bytes.Length - at)), last);
                first ??= next;
                last = next;
            }
            return first is null ? ReadOnlySequence<byte>.Empty : new ReadOnlySequence<byte>(first, 0, last!, last!.Memory.Length);
        }

        sealed class Segment : ReadOnlySequenceSegment<byte>
        {
            public Segment(ReadOnlyMemory<byte> memory, Segment? previous)
            {
                Memory = memory;
                if (previous is not null)
                {
                    RunningIndex = previous.RunningIndex + previous.Memory.Length;
                    previous.Next = this;
                }
            }
        }
    }

    sealed class Recording : ServiceBinderBase
    {
        public List<IMethod> Methods { get; } = [];

        public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, UnaryServerMethod<TRequest, TResponse>? handler) => Methods.Add(method);
        public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, ClientStreamingServerMethod<TRequest, TResponse>? handler) => Methods.Add(method);
        public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, ServerStreamingServerMethod<TRequest, TResponse>? handler) => Methods.Add(method);
        public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, DuplexStreamingServerMethod<TRequest, TResponse>? handler) => Methods.Add(method);
    }
}
