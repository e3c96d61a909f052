using System.Text;
using Federated.Training.Tokenization;

namespace Federated.Training.Tests.Tokenization;

public class ByteLevelTokenizerTests
{
    static readonly ByteLevelTokenizer Tokenizer = ByteLevelTokenizer.Instance;

    [Theory]
    [InlineData("")]
    [InlineData("Hello, world!\n\ttabs and spaces  ")]
    [InlineData("café naïve Ångström")]
    [InlineData("日本語のテキスト 中文")]
    [InlineData("emoji 👩‍👩‍👧 🎉 and flags 🇫🇷")]
    public void Round_trips_any_unicode_text_exactly(string text) =>
        Assert.Equal(text, Tokenizer.Decode(Tokenizer.Encode(text)));

    [Fact]
    public void Ids_are_the_utf8_bytes() =>
        Assert.Equal(Encoding.UTF8.GetBytes("é€").Select(b => (int)b), Tokenizer.Encode("é€"));

    [Fact]
    public void Special_tokens_follow_the_bytes_and_decode_to_nothing()
    {
        Assert.Equal((256, 257, 258, 259), (Tokenizer.BosId, Tokenizer.EosId, Tokenizer.PadId, Tokenizer.VocabularySize));
        Assert.Equal("hi", Tokenizer.Decode([256, 'h', 'i', 257, 258]));
    }

    [Fact]
    public void Decoding_an_id_outside_the_vocabulary_throws() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => Tokenizer.Decode([259]));

    [Fact]
    public void Saved_tokenizer_json_identifies_the_format_and_loads_back()
    {
        using var dir = new TempDirectory();
        var path = Tokenizer.Save(dir.Path);

        Assert.Equal(dir.File("tokenizer.json"), path);
        Assert.Contains("\"federated-byte-level\"", File.ReadAllText(path));
        var loaded = TokenizerLoader.Load(dir.Path);
        Assert.IsType<ByteLevelTokenizer>(loaded);
        Assert.Equal("ça va 🙂", loaded.Decode(loaded.Encode("ça va 🙂")));
    }

    [Fact]
    public void An_unknown_format_version_is_a_model_format_error_naming_the_file()
    {
        using var dir = new TempDirectory();
        var path = dir.Write("tokenizer.json", """{"type": "federated-byte-level", "version": 2}""");

        var error = Assert.Throws<ModelFormatException>(() => TokenizerLoader.Load(dir.Path));
        Assert.Contains(path, error.Message);
        Assert.Contains("version 2", error.Message);
    }
}
