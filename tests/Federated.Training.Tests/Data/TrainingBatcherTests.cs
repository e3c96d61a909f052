using Federated.Training.Data;

namespace Federated.Training.Tests.Data;

public class TrainingBatcherTests
{
    const int Pad = 258;
    const int Ignore = TrainingExample.IgnoreIndex;

    [Fact]
    public void Collate_right_pads_inputs_with_the_pad_id_labels_with_ignore_index_and_masks_padding()
    {
        var examples = new[]
        {
            new TrainingExample([1, 2, 3], [Ignore, 2, 3]),
            new TrainingExample([4], [4]),
        };

        using var batch = TrainingBatch.Collate(examples, Pad);

        Assert.Equal((ScalarType.Int64, ScalarType.Int64, ScalarType.Bool),
            (batch.InputIds.dtype, batch.Labels.dtype, batch.AttentionMask.dtype));
        Assert.Equal([2L, 3L], batch.InputIds.shape);
        Assert.Equal([1L, 2, 3, 4, Pad, Pad], batch.InputIds.data<long>().ToArray());
        Assert.Equal([(long)Ignore, 2, 3, 4, Ignore, Ignore], batch.Labels.data<long>().ToArray());
        Assert.Equal([true, true, true, true, false, false], batch.AttentionMask.data<bool>().ToArray());
    }

    [Fact]
    public void The_same_seed_gives_the_same_order()
    {
        Assert.Equal(TrainingBatcher.Order(50, seed: 7), TrainingBatcher.Order(50, seed: 7));
    }

    [Fact]
    public void Different_seeds_give_different_orders_of_the_same_examples()
    {
        var first = TrainingBatcher.Order(50, seed: 7);
        var second = TrainingBatcher.Order(50, seed: 8);

        Assert.NotEqual(first, second);
        Assert.Equal(Enumerable.Range(0, 50), first.Order());
        Assert.Equal(Enumerable.Range(0, 50), second.Order());
    }

    [Fact]
    public void Without_a_seed_the_order_is_the_file_order() =>
        Assert.Equal(Enumerable.Range(0, 5), TrainingBatcher.Order(5, seed: null));

    [Fact]
    public void Batches_follow_the_seeded_order_and_the_last_batch_holds_the_remainder()
    {
        var examples = Enumerable.Range(0, 5).Select(i => TrainingExample.Unmasked([i, i])).ToArray();

        var batches = TrainingBatcher.Batches(examples, batchSize: 2, Pad, seed: 3).ToList();
        try
        {
            Assert.Equal([2L, 2L, 1L], batches.Select(b => b.InputIds.shape[0]));
            var firstTokens = batches.SelectMany(b => b.InputIds[.., 0].data<long>().ToArray()).Select(id => (int)id);
            Assert.Equal(TrainingBatcher.Order(5, seed: 3), firstTokens);
        }
        finally
        {
            batches.ForEach(b => b.Dispose());
        }
    }
}
