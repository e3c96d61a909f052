using Federated.Training.Data;
using Federated.Training.Tokenization;

namespace Federated.Training.Tests.Data;

public class PlainTextChunkerTests
{
    static readonly ByteLevelTokenizer Tokenizer = ByteLevelTokenizer.Instance;

    [Fact]
    public void Windows_cover_the_whole_text_in_order_with_labels_equal_to_inputs()
    {
        const string text = "The quick brown fox jumps over the lazy dog. Ünïcödé ✓";

        var chunks = PlainTextChunker.Chunk(text, Tokenizer, contextLength: 8);

        Assert.All(chunks.SkipLast(1), chunk => Assert.Equal(8, chunk.Length));
        Assert.Equal(Tokenizer.Encode(text), chunks.SelectMany(chunk => chunk.InputIds));
        Assert.All(chunks, chunk => Assert.Equal(chunk.InputIds, chunk.Labels));
    }

    [Fact]
    public void A_final_window_of_one_token_is_dropped()
    {
        var chunks = PlainTextChunker.Chunk("abcdefghi", Tokenizer, contextLength: 4);

        Assert.Equal(["abcd", "efgh"], chunks.Select(chunk => Tokenizer.Decode(chunk.InputIds)));
    }

    [Fact]
    public void A_final_window_of_two_tokens_is_kept()
    {
        var chunks = PlainTextChunker.Chunk("abcdefghij", Tokenizer, contextLength: 4);

        Assert.Equal(["abcd", "efgh", "ij"], chunks.Select(chunk => Tokenizer.Decode(chunk.InputIds)));
    }

    [Fact]
    public void Reads_a_text_file()
    {
        using var dir = new TempDirectory();
        var path = dir.Write("corpus.txt", "line one\nline two\n");

        var chunks = PlainTextChunker.ReadFile(path, Tokenizer, contextLength: 64);

        Assert.Equal("line one\nline two\n", Tokenizer.Decode(Assert.Single(chunks).InputIds));
    }
}
