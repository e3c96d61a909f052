namespace Federated.Storage.Tests;

public sealed class DirectAppendFileTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("direct-append-").FullName;
    readonly string _path;

    public DirectAppendFileTests()
    {
        _path = Path.Combine(_dir, "data");
        File.WriteAllBytes(_path, []);
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    static byte[] Bytes(int count, int seed)
    {
        var bytes = new byte[count];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Pieces_of_any_size_read_back_exactly_with_flushes_between_them(bool direct)
    {
        // Sizes around the block (4,096) and buffer (1 MiB) boundaries, flushed at unaligned offsets in between.
        int[] sizes = [1, 4095, 4097, DirectAppendFile.BufferBytes + 3, 100_000, 7, DirectAppendFile.BufferBytes, 4096, 12_345, 2 * DirectAppendFile.BufferBytes + 1];
        var content = Bytes(sizes.Sum(), seed: 1);
        using (var file = DirectAppendFile.Open(_path, 0, direct))
        {
            int at = 0;
            for (int i = 0; i < sizes.Length; i++)
            {
                file.Append(content.AsSpan(at, sizes[i]));
                at += sizes[i];
                Assert.Equal(at, file.Length);
                if (i % 3 == 1)
                {
                    file.Flush();
                    Assert.Equal(content.AsSpan(0, at).ToArray(), File.ReadAllBytes(_path)); // flushed means in the file, whole
                }
            }
            file.Flush();
        }
        Assert.Equal(content, File.ReadAllBytes(_path));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Reopening_at_a_shorter_unaligned_length_cuts_the_rest_and_continues_from_there(bool direct)
    {
        var first = Bytes(10_000, seed: 2);
        using (var file = DirectAppendFile.Open(_path, 0, direct))
        {
            file.Append(first);
            file.Flush();
        }
        using (var stream = new FileStream(_path, FileMode.Append)) stream.Write(Bytes(5_000, seed: 3)); // a tail nobody acknowledged

        var second = Bytes(DirectAppendFile.BufferBytes + 3_000, seed: 4);
        using (var file = DirectAppendFile.Open(_path, 10_000, direct))
        {
            Assert.Equal(10_000, new FileInfo(_path).Length);
            file.Append(second);
            file.Flush();
        }
        Assert.Equal([.. first, .. second], File.ReadAllBytes(_path));
    }

    [Fact]
    public void Whole_blocks_bypass_the_page_cache_where_the_file_system_supports_direct_io()
    {
        using var file = DirectAppendFile.Open(_path, 0);
        // Local Linux disk file systems take O_DIRECT; tmpfs and other systems fall back to the page cache.
        bool expected = OperatingSystem.IsLinux() && new DriveInfo(_dir).DriveFormat is "ext4" or "xfs" or "btrfs";
        if (expected) Assert.True(file.IsDirect);
        using var buffered = DirectAppendFile.Open(_path, 0, direct: false);
        Assert.False(buffered.IsDirect);
    }
}
