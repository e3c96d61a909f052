using System.Runtime.InteropServices;
using Federated.IO;
using Microsoft.Win32.SafeHandles;

namespace Federated.Storage;

/// <summary>
/// Appends to a file, bypassing the page cache (Linux <c>O_DIRECT</c>) where the file system allows it. Bulk uploads are
/// written once and read again only when aggregated: copying them through the page cache cost more CPU than receiving
/// them (and flushing a file full of dirty pages mid-stream stalled later writes), while a direct write hands the
/// buffer to the device. Direct writes need whole aligned blocks, so appended bytes gather in an aligned buffer; a
/// partial last block is written through the page cache by <see cref="Flush"/> and rewritten whole once it fills.
/// Where direct I/O is unavailable (tmpfs, other systems) every write goes through the page cache.
/// </summary>
sealed class DirectAppendFile : IDisposable
{
    const int Block = 4096;
    /// <summary>What one direct write carries: large enough to keep the device streaming, small enough per open upload.</summary>
    public const int BufferBytes = 1 << 20;

    readonly SafeFileHandle _file;
    SafeFileHandle? _direct;
    readonly byte[] _pinned;
    readonly int _align;
    /// <summary>The file offset of the buffer's first byte: a block boundary while writing directly.</summary>
    long _bufferOffset;
    int _filled;

    DirectAppendFile(SafeFileHandle file, SafeFileHandle? direct)
    {
        (_file, _direct) = (file, direct);
        // Pinned for good (pinned object heap), so its address, and the alignment computed from it, never change.
        _pinned = GC.AllocateUninitializedArray<byte>(BufferBytes + Block, pinned: true);
        _align = (int)((Block - Marshal.UnsafeAddrOfPinnedArrayElement(_pinned, 0) % Block) % Block);
    }

    Span<byte> Buffer => _pinned.AsSpan(_align, BufferBytes);

    /// <summary>Whether whole blocks bypass the page cache.</summary>
    public bool IsDirect => _direct is not null;

    /// <summary>Bytes in the file, flushed or not.</summary>
    public long Length => _bufferOffset + _filled;

    /// <summary>Opens <paramref name="path"/> to append at <paramref name="length"/>, cutting off anything after it.</summary>
    /// <param name="direct">False writes through the page cache even where direct I/O is available.</param>
    public static DirectAppendFile Open(string path, long length, bool direct = true)
    {
        // Shared: the owner of the file (one process, one upload lock) may read it back while this handle is open.
        var file = File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite);
        DirectAppendFile? appender = null;
        try
        {
            if (RandomAccess.GetLength(file) != length) RandomAccess.SetLength(file, length);
            appender = new DirectAppendFile(file, direct ? DirectIo.OpenForWriting(path) : null);
            // A direct write starts on a block boundary: the partial block before the end is rewritten with what follows.
            int tail = appender.IsDirect ? (int)(length % Block) : 0;
            appender._bufferOffset = length - tail;
            if (tail > 0 && RandomAccess.Read(file, appender.Buffer[..tail], appender._bufferOffset) != tail)
                throw new IOException($"{path} ended before its {length:N0} bytes");
            appender._filled = tail;
            return appender;
        }
        catch
        {
            if (appender is not null) appender.Dispose();
            else file.Dispose();
            throw;
        }
    }

    public void Append(ReadOnlySpan<byte> data)
    {
        while (!data.IsEmpty)
        {
            int n = Math.Min(data.Length, BufferBytes - _filled);
            data[..n].CopyTo(Buffer[_filled..]);
            _filled += n;
            data = data[n..];
            if (_filled == BufferBytes) WriteOut();
        }
    }

    /// <summary>Everything appended is on disk, with the file's length, when this returns.</summary>
    public void Flush()
    {
        WriteOut();
        RandomAccess.FlushToDisk(_file); // also the device cache under direct writes, and the size
    }

    void WriteOut()
    {
        if (_filled == 0) return;
        int whole = _direct is null ? 0 : _filled - _filled % Block;
        if (whole > 0)
        {
            try
            {
                RandomAccess.Write(_direct!, Buffer[..whole], _bufferOffset);
            }
            catch (IOException)
            {
                // A file system that opened O_DIRECT but refuses the write: the page cache from here on (a real write
                // error, such as a full disk, fails again below).
                _direct!.Dispose();
                _direct = null;
                whole = 0;
            }
        }
        if (_filled > whole) RandomAccess.Write(_file, Buffer[whole.._filled], _bufferOffset + whole);
        int keep = _direct is null ? 0 : _filled - whole;
        Buffer.Slice(whole, keep).CopyTo(Buffer);
        _bufferOffset += _filled - keep;
        _filled = keep;
    }

    public void Dispose()
    {
        _direct?.Dispose();
        _file.Dispose();
    }
}
