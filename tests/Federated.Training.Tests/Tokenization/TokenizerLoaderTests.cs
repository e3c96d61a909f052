using Federated.Core.Adapters;
using Federated.Training.Tokenization;

namespace Federated.Training.Tests.Tokenization;

public class TokenizerLoaderTests
{
    [Fact]
    public void A_directory_without_tokenizer_files_names_both_expected_files()
    {
        using var dir = new TempDirectory();

        var error = Assert.Throws<ModelFormatException>(() => TokenizerLoader.Load(dir.Path));

        Assert.Contains(dir.File("tokenizer.json"), error.Message);
        Assert.Contains(dir.File("tokenizer.model"), error.Message);
    }

    [Fact]
    public void A_missing_directory_is_a_model_format_error() =>
        Assert.Throws<ModelFormatException>(() => TokenizerLoader.Load(Path.Combine(Path.GetTempPath(), Guid.NewGuid().ToString("N"))));

    [Fact]
    public void Truncated_tokenizer_json_is_a_model_format_error_naming_the_file()
    {
        using var dir = new TempDirectory();
        var path = dir.Write("tokenizer.json", """{"model": {"type": "BPE", "vocab": {"a": 0""");

        var error = Assert.Throws<ModelFormatException>(() => TokenizerLoader.Load(dir.Path));

        Assert.Contains(path, error.Message);
        Assert.Contains("malformed JSON", error.Message);
    }

    [Fact]
    public void A_non_byte_level_tokenizer_json_alone_is_reported_as_unsupported()
    {
        using var dir = new TempDirectory();
        var path = dir.Write("tokenizer.json", """{"model": {"type": "WordPiece", "vocab": {"a": 0}}}""");

        var error = Assert.Throws<ModelFormatException>(() => TokenizerLoader.Load(dir.Path));

        Assert.Contains(path, error.Message);
        Assert.Contains("byte-level BPE", error.Message);
    }

    [Fact]
    public void A_malformed_vocabulary_is_a_model_format_error_naming_the_file()
    {
        using var dir = new TempDirectory();
        var path = dir.Write("tokenizer.json", """{"decoder": {"type": "ByteLevel"}, "model": {"type": "BPE", "vocab": {"a": "zero"}, "merges": []}}""");

        var error = Assert.Throws<ModelFormatException>(() => TokenizerLoader.Load(dir.Path));

        Assert.Contains(path, error.Message);
        Assert.Contains("model.vocab['a']", error.Message);
    }

    [Fact]
    public void A_corrupt_sentencepiece_model_is_a_model_format_error_naming_the_file()
    {
        using var dir = new TempDirectory();
        var path = dir.File("tokenizer.model");
        File.WriteAllBytes(path, [0xFF, 0xFF, 0xFF, 0x01, 0x02]);

        var error = Assert.Throws<ModelFormatException>(() => TokenizerLoader.Load(dir.Path));

        Assert.Contains(path, error.Message);
    }

    [Fact]
    public void A_non_byte_level_tokenizer_json_next_to_a_tokenizer_model_defers_to_the_tokenizer_model()
    {
        using var dir = new TempDirectory();
        dir.Write("tokenizer.json", """{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": [], "byte_fallback": true}}""");
        var modelPath = dir.File("tokenizer.model");
        File.WriteAllBytes(modelPath, [0xFF, 0xFF, 0xFF, 0x01, 0x02]);

        var error = Assert.Throws<ModelFormatException>(() => TokenizerLoader.Load(dir.Path));

        Assert.Contains(modelPath, error.Message);
    }

    [Fact]
    public void Model_format_errors_are_adapter_format_errors_so_commands_report_them_as_user_errors() =>
        Assert.IsAssignableFrom<AdapterFormatException>(new ModelFormatException("x"));
}
