using System.Buffers;
using System.Runtime.CompilerServices;
using Federated.Protocol.V1;
using Google.Protobuf;
using Grpc.Core;

namespace Federated.Coordinator.Agents;

/// <summary>
/// The agent service's binding, generated but for one thing: an upload's data messages are parsed into pooled buffers
/// instead of a new array each. Every data message of every upload was a fresh 1 MiB large-object allocation, and zeroing,
/// page-faulting and collecting those was the largest single cost of the upload path. A buffer goes back to the pool when
/// the upload asks for its next message (<see cref="Release"/>), after the staging has taken the bytes.
/// </summary>
public static class UploadMessages
{
    /// <summary>Field 2 (data), length-delimited: the tag that starts a data message.</summary>
    const byte DataTag = (2 << 3) | 2;

    static readonly ConditionalWeakTable<UploadUpdateRequest, byte[]> Rented = [];

    /// <summary>
    /// Named by <see cref="AgentService"/>'s <see cref="BindServiceMethodAttribute"/>: the generated binding, with <see cref="Parse"/>
    /// for uploads. The parameter is the generated base type, as gRPC finds the handlers by the methods it declares.
    /// </summary>
    public static void BindService(ServiceBinderBase binder, Protocol.V1.AgentService.AgentServiceBase service) =>
        Protocol.V1.AgentService.BindService(new PooledUploadBinder(binder), service);

    /// <summary>
    /// A message that is one data field (what agents send) is copied into a pooled buffer; anything else goes to the generated
    /// parser. Its size is already bounded: gRPC refuses a message over the endpoint's receive limit before it is parsed.
    /// </summary>
    public static UploadUpdateRequest Parse(DeserializationContext context)
    {
        var payload = context.PayloadAsReadOnlySequence();
        var reader = new SequenceReader<byte>(payload);
        if (reader.TryRead(out byte tag) && tag == DataTag && TryReadLength(ref reader, out int length) && length > 0 && length == reader.Remaining)
        {
            var buffer = ArrayPool<byte>.Shared.Rent(length);
            reader.UnreadSequence.CopyTo(buffer);
            var message = new UploadUpdateRequest { Data = UnsafeByteOperations.UnsafeWrap(buffer.AsMemory(0, length)) };
            Rented.Add(message, buffer);
            return message;
        }
        return UploadUpdateRequest.Parser.ParseFrom(payload);
    }

    /// <summary>
    /// Returns a data message's buffer to the pool: only once nothing reads its bytes any more. A message never released (its
    /// upload failed mid-write, when a write could still hold the bytes) leaves its buffer to the garbage collector.
    /// </summary>
    public static void Release(UploadUpdateRequest message)
    {
        if (Rented.TryGetValue(message, out var buffer) && Rented.Remove(message))
            ArrayPool<byte>.Shared.Return(buffer);
    }

    /// <summary>A protobuf varint that fits an int.</summary>
    static bool TryReadLength(ref SequenceReader<byte> reader, out int length)
    {
        length = 0;
        for (int shift = 0; shift < 32; shift += 7)
        {
            if (!reader.TryRead(out byte b)) return false;
            length |= (b & 0x7F) << shift;
            if ((b & 0x80) == 0) return length >= 0;
        }
        return false;
    }

    /// <summary>Passes the generated binding through, swapping the upload method's request parser.</summary>
    sealed class PooledUploadBinder(ServiceBinderBase inner) : ServiceBinderBase
    {
        public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, ClientStreamingServerMethod<TRequest, TResponse>? handler)
        {
            if (method is Method<UploadUpdateRequest, UploadUpdateResponse> upload)
            {
                var requests = new Marshaller<UploadUpdateRequest>(upload.RequestMarshaller.ContextualSerializer, Parse);
                method = (Method<TRequest, TResponse>)(object)new Method<UploadUpdateRequest, UploadUpdateResponse>(
                    upload.Type, upload.ServiceName, upload.Name, requests, upload.ResponseMarshaller);
            }
            inner.AddMethod(method, handler);
        }

        public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, UnaryServerMethod<TRequest, TResponse>? handler) =>
            inner.AddMethod(method, handler);

        public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, ServerStreamingServerMethod<TRequest, TResponse>? handler) =>
            inner.AddMethod(method, handler);

        public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, DuplexStreamingServerMethod<TRequest, TResponse>? handler) =>
            inner.AddMethod(method, handler);
    }
}
