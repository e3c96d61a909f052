using Federated.Coordinator.Agents;
using Microsoft.Extensions.Time.Testing;

namespace Federated.Coordinator.Tests.Agents;

public sealed class FailureBudgetTests
{
    [Fact]
    public void The_failure_that_spends_the_last_unit_reports_it_once_and_the_address_stays_blocked_until_a_unit_refills()
    {
        var time = new FakeTimeProvider();
        var budget = new FailureBudget(perMinute: 3, time);
        var spent = new List<bool>();
        for (int i = 0; i < 3; i++)
        {
            Assert.True(budget.TryBegin("10.0.0.1"));
            spent.Add(budget.End("10.0.0.1", failed: true));
        }

        Assert.Equal([false, false, true], spent);
        Assert.True(budget.IsSpent("10.0.0.1"));
        Assert.False(budget.TryBegin("10.0.0.1"));
        Assert.False(budget.IsSpent("10.0.0.2"));

        time.Advance(TimeSpan.FromSeconds(19)); // 3 a minute: one unit every 20 s
        Assert.True(budget.IsSpent("10.0.0.1"));
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.False(budget.IsSpent("10.0.0.1"));
    }

    [Fact]
    public void Successful_lookups_spend_nothing_and_lookups_in_flight_count_against_what_is_left()
    {
        var budget = new FailureBudget(perMinute: 2, new FakeTimeProvider());
        Assert.True(budget.TryBegin("a"));
        Assert.True(budget.TryBegin("a"));
        Assert.True(budget.IsSpent("a")); // both units reserved by calls in flight
        Assert.False(budget.TryBegin("a"));
        Assert.False(budget.End("a", failed: false));
        Assert.False(budget.End("a", failed: false));
        Assert.False(budget.IsSpent("a"));
    }
}
